"""Publishing an output: the dataset card and the Hugging Face Hub push (above storage/ and the cost report)."""
