"""dxkit: differential diagnosis from notes, patient facts and device measurements.

Importing the package does no work: models, data and resources load on first use.
"""

from dxkit.cases.schema import Case, History, LabeledCase, Lifestyle, Observation, Sex

__version__ = "0.1.0"

__all__ = ["Case", "History", "LabeledCase", "Lifestyle", "Observation", "Sex", "__version__"]
