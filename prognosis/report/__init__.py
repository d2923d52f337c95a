"""HTML reports: the model report and patient risk reports (see docs in each module)."""

from prognosis.report.model_report import ModelReport, build_model_report, write_model_report
from prognosis.report.patient_report import PatientReports, write_patient_reports
from prognosis.report.privacy import suppress
from prognosis.report.pseudonyms import load_key, pseudonym
from prognosis.report.render import environment, render_page

__all__ = [
    "ModelReport",
    "PatientReports",
    "build_model_report",
    "environment",
    "load_key",
    "pseudonym",
    "render_page",
    "suppress",
    "write_model_report",
    "write_patient_reports",
]
