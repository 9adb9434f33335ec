"""OSCQuery: the address table as the JSON namespace described by the OSCQuery proposal
(github.com/Vidvox/OSCQueryProposal).

Everything here is built from :data:`ganplug.show.table.ADDRESSES`; nothing names an
address. The mapping (docs/web.md has the table):

- containers nest by path segment (``/ganplug/preset/save`` → ganplug → preset → save);
- TYPE is the inbound argument type tags; a command without arguments is ``N`` (nil: any
  or no argument, since such commands ignore their arguments);
- RANGE is one object per type tag: ``{MIN, MAX}`` for ranges, ``{VALS}`` for choices, ``{}``
  for anything else; CLIPMODE is ``both`` where the server clamps, else ``none``;
- ACCESS is 3 for performance parameters (VALUE holds their live value), 2 for commands,
  1 for addresses the server only sends. An address that is both a command and sent by the
  server (``/ganplug/state``, ``/ganplug/latent``) is described as the command; its
  DESCRIPTION names what comes back;
- a variadic parameter (``/ganplug/keyframes``) has no fixed type tag string, so it is
  described by its shortest form (one tag) and is write-only (ACCESS 2); ``/ganplug/z`` takes
  exactly ``z_dim`` floats for the model being served, so its TYPE has ``z_dim`` tags;
- an indexed address (``/ganplug/z/N``) becomes one method per index, ``0 … z_dim−1``.
"""

from __future__ import annotations

from typing import Any

from ..show.table import ADDRESSES, INBOUND, OUTBOUND, Arg, Spec

# Attributes a client may ask for one at a time (``GET /path?VALUE``).
ATTRIBUTES = ("FULL_PATH", "CONTENTS", "TYPE", "RANGE", "ACCESS", "VALUE", "DESCRIPTION", "CLIPMODE")
# Optional parts of the proposal this server implements; the rest are declared absent.
EXTENSIONS = {
    "ACCESS": True, "VALUE": True, "RANGE": True, "DESCRIPTION": True, "CLIPMODE": True,
    "TAGS": False, "EXTENDED_TYPE": False, "UNIT": False, "CRITICAL": False, "OVERLOADS": False,
    "HTML": False, "LISTEN": True, "PATH_CHANGED": False, "PATH_RENAMED": False, "PATH_ADDED": False, "PATH_REMOVED": False,
}
ACCESS_NONE, ACCESS_READ, ACCESS_WRITE, ACCESS_READ_WRITE = 0, 1, 2, 3


def value_count(spec: Spec, z_dim: int) -> int:
    """How many values a message to ``spec`` carries when described with a fixed type tag string."""
    if not spec.variadic:
        return len(spec.args)
    # The server takes exactly z_dim floats at /ganplug/z (Server.handle caps it the same way).
    return z_dim if spec.name == "z" else 1


def _range(arg: Arg) -> dict[str, Any]:
    if arg.choices:
        return {"VALS": list(arg.choices)}
    if arg.lo is None or arg.hi is None or arg.type not in "if":
        return {}
    cast = int if arg.type == "i" else float
    return {"MIN": cast(arg.lo), "MAX": cast(arg.hi)}


def _clip(arg: Arg) -> str:
    return "both" if arg.lo is not None and arg.hi is not None and arg.type in "if" else "none"


def _json_value(arg: Arg, value: Any) -> Any:
    if arg.type == "i":
        return int(value)
    if arg.type == "f":
        return float(value)
    return value


def _describe(spec: Spec, z_dim: int, values: dict[str, Any]) -> dict[str, Any]:
    """The attributes of one method (FULL_PATH is set by the caller)."""
    node: dict[str, Any] = {"DESCRIPTION": spec.doc}
    if not spec.args:
        node["TYPE"] = "N"
    else:
        args = [spec.args[0]] * value_count(spec, z_dim) if spec.variadic else list(spec.args)
        node["TYPE"] = "".join(a.type for a in args)
        node["RANGE"] = [_range(a) for a in args]
        node["CLIPMODE"] = [_clip(a) for a in args]
    if spec.kind == "out":
        node["ACCESS"] = ACCESS_READ
    elif spec.kind == "param" and not spec.variadic:
        node["ACCESS"] = ACCESS_READ_WRITE
        if spec.name in values:
            node["VALUE"] = [_json_value(spec.args[0], values[spec.name])]
    else:
        node["ACCESS"] = ACCESS_WRITE
    if spec.variadic and spec.name != "z":
        node["DESCRIPTION"] += f" ({spec.args[0].type} × 1 to {spec.max_items}; write-only here, as the count varies)"
    out = OUTBOUND.get(spec.address)
    if spec.kind != "out" and out is not None:
        node["DESCRIPTION"] += f"; the server sends {out.address} {out.types}: {out.doc}"
    return node


def _insert(root: dict[str, Any], address: str, attributes: dict[str, Any]) -> None:
    node, path = root, ""
    for part in address.strip("/").split("/"):
        path += "/" + part
        node = node.setdefault("CONTENTS", {}).setdefault(part, {"FULL_PATH": path})
    node.update(attributes)


def namespace(z_dim: int, values: dict[str, Any], description: str = "") -> dict[str, Any]:
    """The whole address space as one JSON object, with ``values`` (parameter name → value) as VALUE."""
    root: dict[str, Any] = {"FULL_PATH": "/", "ACCESS": ACCESS_NONE, "DESCRIPTION": description or "ganplug", "CONTENTS": {}}
    for spec in ADDRESSES:
        if spec.kind == "out" and spec.address in INBOUND:
            continue  # described by its inbound command
        if spec.indexed:
            base = spec.address.rpartition("/")[0]
            for i in range(z_dim):
                _insert(root, f"{base}/{i}", {**_describe(spec, z_dim, values), "DESCRIPTION": spec.doc.replace("component N", f"component {i}")})
        else:
            _insert(root, spec.address, _describe(spec, z_dim, values))
    _fill_containers(root)
    return root


def _fill_containers(node: dict[str, Any]) -> None:
    """Containers that are not also methods get ACCESS 0 and a description."""
    for child in node.get("CONTENTS", {}).values():
        if "CONTENTS" in child and "TYPE" not in child:
            child.setdefault("ACCESS", ACCESS_NONE)
            child.setdefault("DESCRIPTION", f"the {child['FULL_PATH']}/… addresses")
        _fill_containers(child)


def find(root: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The node at ``path`` (``/`` is the root), or None."""
    node = root
    for part in [p for p in path.split("/") if p]:
        node = node.get("CONTENTS", {}).get(part)
        if node is None:
            return None
    return node


def host_info(name: str, osc_ip: str, osc_port: int) -> dict[str, Any]:
    """The ``/?HOST_INFO`` reply: where to send OSC, and which optional attributes exist."""
    return {"NAME": name, "OSC_IP": osc_ip, "OSC_PORT": osc_port, "OSC_TRANSPORT": "UDP", "EXTENSIONS": dict(EXTENSIONS)}
