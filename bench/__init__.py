"""homepair's benchmark harness (issue 7): ``make bench`` or ``python -m bench``."""
