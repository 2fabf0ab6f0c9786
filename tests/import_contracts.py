"""An import-linter contract type the built-in ones lack: an allow-list of what may be imported.

``allow_list``: every module of ``source_modules`` imports only modules of its
own package, the standard library, and the packages in ``allowed_modules``
(``forbidden`` contracts can only name what is refused, so a new dependency
would slip through). Registered in ``pyproject.toml`` under ``contract_types``.
"""

from __future__ import annotations

import sys
from typing import Any

from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


class AllowListContract(Contract):
    type_name = "allow_list"

    source_modules = fields.ListField(subfield=fields.StringField())
    allowed_modules = fields.ListField(subfield=fields.StringField())

    def check(self, graph: Any, verbose: bool) -> ContractCheck:
        sources = [str(m) for m in self.source_modules]  # type: ignore[attr-defined]
        allowed = {str(m) for m in self.allowed_modules}  # type: ignore[attr-defined]
        illegal = []
        for source in sources:
            for module in sorted({source, *graph.find_descendants(source)}):
                for imported in sorted(graph.find_modules_directly_imported_by(module)):
                    top = imported.split(".")[0]
                    inside = any(imported == s or imported.startswith(s + ".") for s in sources)
                    if inside or top in allowed or top in sys.stdlib_module_names:
                        continue
                    illegal.append((module, imported))
        return ContractCheck(kept=not illegal, metadata={"illegal": illegal})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for module, imported in check.metadata["illegal"]:
            output.print_error(f"{module} imports {imported}, which is not allowed", bold=False)
            output.new_line()
