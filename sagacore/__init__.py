"""sagacore: scheduling LLM agents on GPU clusters, with the theory checked by machine."""

from sagacore.errors import SagacoreError

__all__ = ["SagacoreError", "__version__"]
__version__ = "0.1.0"
