"""Code that checks the workflow against known truth: the demo simulator and its evaluation."""
