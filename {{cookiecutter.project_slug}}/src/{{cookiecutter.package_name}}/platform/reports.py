"""Reports: an HTML page with PNG figures, logged to the MLflow run of the step that made it.

Figures are matplotlib `Figure` objects made without pyplot, so no display, backend or global
state is involved, on a job cluster as on a laptop. Locally the run's artifacts are files, and
`location` gives the page's path to open; on Databricks it gives the artifact's URI, shown in the
run's Artifacts tab.
"""

import html
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import mlflow
import pandas as pd
from matplotlib.figure import Figure

REPORT_FILE = "report.html"
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } img { max-width: 100%; }
.passed { color: #1a7f37; font-weight: bold; } .failed { color: #cf222e; font-weight: bold; }
"""


@dataclass
class Report:
    """A page built top to bottom: headings, paragraphs, lists, tables and figures."""

    title: str
    parts: list[str] = field(default_factory=list)
    figures: dict[str, Figure] = field(default_factory=dict)

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def paragraph(self, text: str, css_class: str = "") -> None:
        attribute = f' class="{css_class}"' if css_class else ""
        self.parts.append(f"<p{attribute}>{html.escape(text)}</p>")

    def items(self, lines: list[str]) -> None:
        if lines:
            listed = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
            self.parts.append(f"<ul>{listed}</ul>")

    def table(self, frame: pd.DataFrame) -> None:
        self.parts.append(frame.to_html(index=False, escape=True, float_format="{:.4g}".format))

    def figure(self, name: str, figure: Figure, caption: str) -> None:
        """Add `figure`, saved as `<name>.png` beside the page."""
        self.figures[name] = figure
        self.parts.append(
            f'<figure><img src="{html.escape(name)}.png" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def write(self, directory: Path) -> Path:
        """The page and its PNG files in `directory`; the page's path."""
        directory.mkdir(parents=True, exist_ok=True)
        for name, figure in self.figures.items():
            figure.savefig(directory / f"{name}.png", dpi=100, bbox_inches="tight")
        title = html.escape(self.title)
        page = (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{_STYLE}</style></head>\n<body><h1>{title}</h1>\n"
            + "\n".join(self.parts)
            + "\n</body></html>\n"
        )
        path = directory / REPORT_FILE
        path.write_text(page, encoding="utf-8")
        return path


def location(artifact_uri: str) -> str:
    """A local path for a file artifact, the URI itself anywhere else."""
    parsed = urlparse(artifact_uri)
    return unquote(parsed.path) if parsed.scheme == "file" else artifact_uri


def log_report(report: Report, artifact_path: str) -> str:
    """Write `report` into the active MLflow run under `artifact_path`; where its page is."""
    with tempfile.TemporaryDirectory() as scratch:
        report.write(Path(scratch))
        mlflow.log_artifacts(scratch, artifact_path)
    return location(mlflow.get_artifact_uri(f"{artifact_path}/{REPORT_FILE}"))
