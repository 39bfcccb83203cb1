"""Cases: the typed patient record every stage consumes, plus readers and generators."""
