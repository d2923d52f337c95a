"""prognosis: validated, explained disease-prognosis models from OMOP CDM health records."""

from prognosis.cohort import (
    BuildResult,
    CohortDefinition,
    build_cohort,
    compile_script,
    load_definition,
    parse_source,
)
from prognosis.exceptions import DataQualityWarning, DefinitionError, PrognosisError, SourceError

__all__ = [
    "BuildResult",
    "CohortDefinition",
    "DataQualityWarning",
    "DefinitionError",
    "PrognosisError",
    "SourceError",
    "build_cohort",
    "compile_script",
    "load_definition",
    "parse_source",
]
