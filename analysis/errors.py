"""The analysis's errors: input it cannot use, and too few configurations for a method."""


class AnalysisError(ValueError):
    """Input the analysis cannot use (too few rows, NaN metrics, unknown columns, ...)."""


class TooFew(AnalysisError):
    """Too few (successful) configurations at a fidelity for the method; other fidelities may do."""
