"""Result records: what one check observed, and the checks of one server configuration (the
checks themselves, their ids and titles: ``_spec``).

The JSON form (``as_dict``; its keys are stable, docs/CONFORMANCE.md shows it) is what the matrix
job, the patch proofs, the field table and the benchmarks read.
"""


from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

__all__ = ["FAIL", "PASS", "SKIP", "CheckResult", "ResultRecord", "judged"]

PASS, FAIL, SKIP = "pass", "fail", "skip"

@dataclass
class CheckResult:
    id: str
    status: str
    detail: str


@dataclass
class ResultRecord:
    """The checks of one server configuration, natively (shim "off") or with the shim ("on")."""

    server: str
    server_version: Optional[str]
    config: Dict[str, str]
    shim: str
    mode: Optional[str]
    checks: List[CheckResult] = field(default_factory=list)
    #: The end of the main run's server output (for reports; not part of the JSON form).
    log_tail: str = field(default="", repr=False, compare=False)

    @property
    def passed(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def check(self, check_id: str) -> Optional[CheckResult]:
        return next((result for result in self.checks if result.id == check_id), None)

    def failed(self) -> List[str]:
        return [c.id for c in self.checks if c.status == FAIL]

    def as_dict(self) -> Dict[str, Any]:
        data = dataclasses.asdict(self)  # the fields in order, the checks as dicts too
        del data["log_tail"]
        return {**data, "passed": self.passed}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> ResultRecord:
        checks = [CheckResult(c["id"], c["status"], c.get("detail", "")) for c in data["checks"]]
        return cls(data["server"], data.get("server_version"), dict(data.get("config", {})), data["shim"],
                   data.get("mode"), checks)


def judged(records: List[ResultRecord]) -> List[ResultRecord]:
    """The records the exit status stands for: those with the shim or the middleware where one
    ran (a native failure they fix fails nothing), else all."""
    return [r for r in records if r.shim != "off"] or records
