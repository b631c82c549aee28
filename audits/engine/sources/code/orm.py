"""SQLAlchemy and Django models, and the ORM filters and writes in function bodies."""

from __future__ import annotations

import ast
import re
from dataclasses import replace

from .context import _Module
from .facts import OrmColumn, OrmFilter, OrmModel, OrmRelationship, OrmWrite
from .state import WalkerState
from .syntax import _const_str, _dotted, _kw, _walk

_SA_TYPES = re.compile(
    r"^(sa\.|sqlalchemy\.|db\.)?(Integer|String|Text|Boolean|DateTime|Date|Time|Float|Numeric|BigInteger|SmallInteger|JSON|JSONB|UUID|Uuid|LargeBinary|Enum|Interval|ARRAY|Unicode|UnicodeText|TIMESTAMP|VARCHAR|CHAR|INTEGER|BOOLEAN|TEXT|Double|DECIMAL|PickleType|TypeDecorator)\b"
)


def _orm_model(
    mod: _Module, node: ast.ClassDef, bases: tuple[str, ...]
) -> OrmModel | None:
    """Return the ORM model a class declares, or None when it declares none."""
    django = any(b.endswith("models.Model") for b in bases)
    columns: list[OrmColumn] = []
    rels: list[OrmRelationship] = []
    indexes: list[tuple[str, ...]] = []
    table = ""
    for stmt in node.body:
        target, value, annotation = _class_assignment(stmt)
        if target is None or value is None:
            continue
        if target == "__tablename__":
            table = _const_str(value) or ""
            continue
        if target == "__table_args__":
            indexes.extend(_table_args_indexes(value))
            continue
        if not isinstance(value, ast.Call):
            continue
        fname = _dotted(value.func).split(".")[-1]
        if fname in ("Column", "mapped_column") and _from_sqlalchemy(mod, value.func):
            columns.append(_sa_column(target, value, annotation))
        elif fname == "relationship":
            rels.append(_relationship(target, value, annotation, stmt.lineno))
        elif django or _dotted(value.func).startswith("models."):
            django = True
            columns.append(_django_field(target, value, fname, stmt.lineno))
    if not columns and not rels:
        return None
    if not table:
        table = (
            _snake(node.name)
            if not django
            else f"{mod.module.split('.')[-2] if mod.module.count('.') else 'app'}_{node.name.lower()}"
        )
    return OrmModel(
        name=node.name,
        table=table,
        file=mod.rel,
        line=node.lineno,
        kind="django" if django else "sqlalchemy",
        columns=tuple(columns),
        relationships=tuple(rels),
        indexes=tuple(indexes),
        bases=tuple(b.split(".")[-1] for b in bases),
    )


_ORM_MODULES = ("sqlalchemy", "sqlmodel", "flask_sqlalchemy")


def _from_sqlalchemy(mod: _Module, func: ast.expr) -> bool:
    """Return False for a ``Column`` of another library (a table widget, a form)."""
    head = _dotted(func).split(".")[0]
    full = mod.names.get(head, "")
    if not full or head in ("db", "sa", "sql"):
        return True  # an ORM object of the project (``db.Column``) or unknown
    return full.split(".")[0] in _ORM_MODULES


def inherit_columns(models: list[OrmModel]) -> list[OrmModel]:
    """Give each model the columns of the mixins and abstract models it extends.

    ``updated_at = Column(..., onupdate=...)`` declared once on a base is
    maintained on every model built on it.
    """
    by_name = {m.name: m for m in models}
    out: list[OrmModel] = []
    for model in models:
        own = {c.attr for c in model.columns}
        extra: list[OrmColumn] = []
        todo, seen = list(model.bases), {model.name}
        while todo:
            base = by_name.get(todo.pop(0))
            if base is None or base.name in seen:
                continue
            seen.add(base.name)
            for col in base.columns:
                if col.attr not in own:
                    own.add(col.attr)
                    inherited = col.inherited_from or base.name
                    extra.append(replace(col, inherited_from=inherited))
            todo.extend(base.bases)
        if extra:
            model = replace(model, columns=model.columns + tuple(extra))
        out.append(model)
    return out


def _class_assignment(stmt: ast.stmt) -> tuple[str | None, ast.expr | None, str]:
    """Return (name, value, annotation) of ``name = value`` in a class body."""
    if (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
    ):
        return stmt.targets[0].id, stmt.value, ""
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return stmt.target.id, stmt.value, ast.unparse(stmt.annotation)
    return None, None, ""


def _table_args_indexes(value: ast.expr) -> list[tuple[str, ...]]:
    """Return the column tuples of the ``Index(...)`` calls in ``__table_args__``."""
    return [
        tuple(
            _const_str(a) or (a.attr if isinstance(a, ast.Attribute) else "")
            for a in n.args[1:]
        )
        for n in _walk(value)
        if isinstance(n, ast.Call) and _dotted(n.func).split(".")[-1] == "Index"
    ]


def _relationship(
    attr: str, value: ast.Call, annotation: str, line: int
) -> OrmRelationship:
    """Return a SQLAlchemy ``relationship()`` with the model it points at."""
    first = value.args[0] if value.args else None
    rel_target = _const_str(first) or (_dotted(first) if first is not None else "")
    if not rel_target:
        m = re.search(
            r"Mapped\[(?:list\[|List\[|Optional\[|set\[)?['\"]?(\w+)",
            annotation,
        )
        rel_target = m.group(1) if m else ""
    return OrmRelationship(
        attr,
        rel_target,
        _const_str(_kw(value, "back_populates")),
        _const_str(_kw(value, "backref")),
        line,
    )


def _django_field(attr: str, value: ast.Call, fname: str, line: int) -> OrmColumn:
    """Return a Django model field as a column (a ForeignKey stores ``<attr>_id``)."""
    reference = fname in ("ForeignKey", "OneToOneField")
    default = _kw(value, "default")
    return OrmColumn(
        attr=attr,
        name=attr + ("_id" if reference else ""),
        type=fname,
        foreign_key=(_const_str(value.args[0]) or _dotted(value.args[0]))
        if reference and value.args
        else None,
        index=isinstance(_kw(value, "db_index"), ast.Constant) or reference,
        unique=isinstance(_kw(value, "unique"), ast.Constant),
        onupdate="auto_now"
        if isinstance(_kw(value, "auto_now"), ast.Constant)
        else None,
        default=ast.unparse(default) if default is not None else None,
        line=line,
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _sa_column(attr: str, call: ast.Call, annotation: str) -> OrmColumn:
    name = attr
    col_type: str | None = None
    fk: str | None = None
    for arg in call.args:
        s = _const_str(arg)
        if s is not None and name == attr and col_type is None:
            name = s
            continue
        if (
            isinstance(arg, ast.Call)
            and _dotted(arg.func).split(".")[-1] == "ForeignKey"
        ):
            fk = _const_str(arg.args[0]) if arg.args else None
            if fk is None and arg.args:
                fk = ast.unparse(arg.args[0])
            continue
        text = ast.unparse(arg)
        if col_type is None and (
            _SA_TYPES.match(text)
            or isinstance(arg, ast.Name | ast.Attribute | ast.Call)
        ):
            col_type = text
    type_kw = _kw(call, "type_")
    type_unset = False
    if type_kw is not None:
        if isinstance(type_kw, ast.Constant) and type_kw.value is None:
            type_unset = True
        else:
            col_type = ast.unparse(type_kw)
    mapped = re.search(r"Mapped\[(.+)\]", annotation)
    if col_type is None and not type_unset and fk is None and not mapped:
        type_unset = True

    def flag(key: str) -> bool:
        v = _kw(call, key)
        return isinstance(v, ast.Constant) and bool(v.value)

    def text_of(key: str) -> str | None:
        v = _kw(call, key)
        return ast.unparse(v) if v is not None else None

    return OrmColumn(
        attr=attr,
        name=name,
        type=col_type or (mapped.group(1) if mapped else None),
        type_unset=type_unset,
        foreign_key=fk,
        index=flag("index"),
        unique=flag("unique"),
        primary_key=flag("primary_key"),
        onupdate=text_of("onupdate"),
        default=text_of("default"),
        server_default=text_of("server_default"),
        line=call.lineno,
    )


class OrmCalls(WalkerState):
    """Record the ORM filters and writes met in a function body."""

    def _orm_filter(self, node: ast.Call) -> None:
        for arg in node.args:
            for n in _walk(arg):
                if (
                    isinstance(n, ast.Compare)
                    and len(n.ops) == 1
                    and isinstance(n.left, ast.Attribute)
                    and isinstance(n.comparators[0], ast.Constant)
                ):
                    value = n.comparators[0].value
                    if value is None or isinstance(value, bool):
                        op = (
                            "=="
                            if isinstance(n.ops[0], ast.Eq)
                            else "!="
                            if isinstance(n.ops[0], ast.NotEq)
                            else ""
                        )
                        if op:
                            self._filter(n, n.left, op, repr(value))
                elif (
                    isinstance(n, ast.Call)
                    and isinstance(n.func, ast.Attribute)
                    and n.func.attr in ("is_", "isnot", "is_not")
                    and isinstance(n.func.value, ast.Attribute)
                ):
                    value = ast.unparse(n.args[0]) if n.args else ""
                    self._filter(n, n.func.value, n.func.attr, value)
                elif isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):
                    self._filter(n, n, "ref", "")
        for kw in node.keywords:
            if not kw.arg:
                continue
            isnull = "__isnull" in kw.arg
            value = ast.unparse(kw.value)
            self.col.filters.append(
                OrmFilter(
                    self.mod.rel,
                    node.lineno,
                    self.qualname,
                    _dotted(node.func).split(".")[0],
                    kw.arg.split("__")[0],
                    "isnull" if isnull else "kw",
                    value if isnull else value[:40],
                    ast.unparse(node)[:120],
                )
            )

    def _filter(self, node: ast.AST, attr: ast.Attribute, op: str, value: str) -> None:
        model = _dotted(attr.value)
        self.col.filters.append(
            OrmFilter(
                self.mod.rel,
                getattr(node, "lineno", 0),
                self.qualname,
                model,
                attr.attr,
                op,
                value,
                ast.unparse(node)[:120],
            )
        )

    def _orm_kwargs_write(self, node: ast.Call, name: str, receiver: str) -> None:
        model = name if name[:1].isupper() else receiver.split(".")[0]
        for kw in node.keywords:
            if (
                kw.arg
                and isinstance(kw.value, ast.Constant)
                and isinstance(kw.value.value, str)
            ):
                self.col.orm_writes.append(
                    OrmWrite(
                        self.mod.rel,
                        node.lineno,
                        self.qualname,
                        model,
                        kw.arg,
                        kw.value.value,
                    )
                )

    def _orm_attribute_write(
        self, target: ast.Attribute, value: ast.Constant, line: int
    ) -> None:
        if isinstance(value.value, str):
            self.col.orm_writes.append(
                OrmWrite(
                    self.mod.rel, line, self.qualname, "", target.attr, value.value
                )
            )
