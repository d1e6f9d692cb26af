"""feedback: reader feedback and typo reports for news sites, docs and blogs."""

__version__ = "0.1.0"
