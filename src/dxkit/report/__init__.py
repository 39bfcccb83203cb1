"""The differential answer: one typed object per case, and the pipeline that makes it."""
