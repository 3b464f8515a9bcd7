"""What cleaning produces: the cleaned tables of a data folder, and how each input file was read."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from canvass.config import Config


@dataclass
class FileRecord:
    """One input file as read: where it is, its hash, how its rows were counted and its columns read."""

    kind: str
    file: str
    sha256: str
    data_rows: int = 0
    blank_rows: int = 0
    header_row: int = 0
    ignored_columns: list = field(default_factory=list)
    columns: dict = field(default_factory=dict)  # field → header as the file shows it
    community: str = ""  # the file's community when rows do not say (9.1)
    community_source: str = ""  # column, files:, file name
    notes: list = field(default_factory=list)  # candidates left out: {field, header, why}
    readings: list = field(default_factory=list)  # metric columns: coding, invalid answers (9.9)
    unassigned_grid: int = 0  # registry rows placed in 未分网格 (9.2)
    duplicate_of: str = ""  # a download whose every row is a duplicate return of this file (9.8)
    rejected_rows: int = 0


@dataclass
class Cleaned:
    """Cleaned tables of one data folder, and every rejected row with its reason."""

    households: pd.DataFrame
    visits: pd.DataFrame
    surveys: pd.DataFrame
    issues: pd.DataFrame
    rejects: pd.DataFrame
    files: list
    communities: list
    config: Config
    activities: pd.DataFrame | None = None  # None: no activities/ folder (its report sections are left out)
    shops: pd.DataFrame | None = None  # None: no shops/ folder
    # The read cache these tables were read with (its new entries are published with the slices).
    read_cache: object = field(default=None, repr=False, compare=False)

    def data_dates(self) -> pd.Series:
        """Return the dates of every visit and survey row (what the default week is chosen from)."""
        return pd.concat([self.visits["date"], self.surveys["date"]]).dropna()

    def community_slice(self, community: str) -> "Cleaned":
        """Return the tables restricted to one community (rejects of other communities dropped)."""
        def pick(df):
            return None if df is None else df[df["community"] == community].reset_index(drop=True)
        return Cleaned(pick(self.households), pick(self.visits), pick(self.surveys), pick(self.issues),
                       pick(self.rejects), self.files, [community], self.config,
                       pick(self.activities), pick(self.shops))
