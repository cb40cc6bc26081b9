"""The reasoner's version, recorded in every explanation."""
__version__ = "0.1.0"
