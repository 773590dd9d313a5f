"""What the benchmark pastes: about 2 KiB of everyday Python, made distinct per paste and per request.

Distinct content matters: scalebox stores identical content once, so repeating one body would
flatter its create path.
"""

from __future__ import annotations

import json

UNIQUE_MARK = "@@UNIQUE@@"  # wrk.lua replaces this with a per-request id

_TEMPLATE = '''"""Inventory report {tag}: totals per warehouse, with a CSV export."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class Item:
    sku: str
    warehouse: str
    quantity: int
    unit_price: Decimal


@dataclass
class Report:
    title: str
    rows: list[Item] = field(default_factory=list)

    def add(self, item: Item) -> None:
        if item.quantity < 0:
            raise ValueError(f"negative stock for {{item.sku}} in {{item.warehouse}}")
        self.rows.append(item)

    def totals(self) -> dict[str, Decimal]:
        """Value of the stock held in each warehouse."""
        result: dict[str, Decimal] = defaultdict(Decimal)
        for item in self.rows:
            result[item.warehouse] += item.unit_price * item.quantity
        return dict(sorted(result.items()))

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["warehouse", "value"])
        for warehouse, value in self.totals().items():
            writer.writerow([warehouse, f"{{value:.2f}}"])
        return buffer.getvalue()


def parse_line(line: str) -> Item:
    sku, warehouse, quantity, price = (part.strip() for part in line.split(";"))
    return Item(sku, warehouse, int(quantity), Decimal(price))


def build_report(lines: list[str], title: str = "stock {tag}") -> Report:
    report = Report(title)
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            report.add(parse_line(line))
        except ValueError as exc:
            raise ValueError(f"line {{number}}: {{exc}}") from exc
    return report


if __name__ == "__main__":
    demo = [
        "A-{tag}; north; 12; 3.50",
        "B-{tag}; north; 4; 12.00",
        "C-{tag}; south; 30; 0.99",
        "# comment lines are skipped",
    ]
    print(build_report(demo).to_csv())
'''


def sample_python(tag: str) -> str:
    """About 2 KiB of Python; `tag` makes it distinct."""
    return _TEMPLATE.format(tag=tag)


def paste_body(content: str) -> bytes:
    """The pinnwand v1 create body both servers accept (scalebox speaks the same API)."""
    body = {"expiry": "1day", "files": [{"lexer": "python", "name": "report.py", "content": content}]}
    return json.dumps(body).encode()


def create_body_template() -> bytes:
    """A create body whose content carries UNIQUE_MARK, for wrk.lua to fill per request."""
    return paste_body(sample_python(UNIQUE_MARK))
