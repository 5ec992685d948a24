from foundry.cli import app

app()
