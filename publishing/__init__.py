"""publishing stage."""
