#!/usr/bin/env python3
"""The layer rule of lib/ (run it as scripts/check-layers.sh). Checks the layer rule of lib/ and the file rules that go with it.

Each folder of lib/ is a layer; a file may include headers of its own folder and of the folders
on lower floors only (the table below). Also checked:
  - <uv.h> only in transport/, hiredis only in protocol/, OpenSSL only in transport/,
    prometheus-cpp only in export/ (direct includes);
  - the public facade header rcache/client.hpp (and the headers that include it) only from
    client/, recipes/ and export/ - lower layers use the small public headers;
  - lib/ headers are included by folder ("base/log.hpp"), never by a bare or relative name;
  - public headers (include/rcache/) never include lib/ headers;
  - every lib/ file opens with a one-line // comment saying its job, and has at most 500 lines.
Exits 1 and names every violation; prints one line per layer otherwise.
"""
import pathlib
import re
import sys

# Floors, bottom to top. A folder may include its own floor's folder and any lower floor's.
FLOORS = [
    ["base"],                 # errors, logging, JSON writing, the clock, the backoff, URL + config
    ["metrics"],              # the recorder, every counter declared once
    ["protocol", "codec"],    # RESP, command builders, reply parsers, handshake | value envelope
    ["transport"],            # pipeline (pure), connection (libuv), pool, loop thread
    ["topology"],             # where the pool dials: Sentinel discovery and +switch-master
    ["resilience"],           # command, verdicts, breaker, executor, availability, local store
    ["cache"],                # single-flight, XFetch
    ["client"],               # the facade: wiring, call forms, get_or_load, delete_pattern, health
    ["recipes", "export"],    # rate limiter, lock | stats JSON, Prometheus
]
FLOOR = {folder: i for i, floor in enumerate(FLOORS) for folder in floor}

ONLY_IN = [  # (include pattern, folders allowed to include it directly, what it is)
    (re.compile(r"^uv\.h$"), {"transport"}, "libuv"),
    (re.compile(r"^hiredis/"), {"protocol"}, "hiredis"),
    (re.compile(r"^openssl/"), {"transport"}, "OpenSSL"),
    (re.compile(r"^prometheus/"), {"export"}, "prometheus-cpp"),
    (re.compile(r"^rcache/(client|prometheus|patterns|typed|rcache)\.hpp$"),
     {"client", "recipes", "export"}, "the Client facade header"),
]
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
MAX_LINES = 500


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent
    if len(sys.argv) == 3 and sys.argv[1] == "--root":  # another tree (the checker's own test)
        root = pathlib.Path(sys.argv[2]).resolve()
    lib = root / "lib"
    errors = []
    uses = {}
    for path in sorted(lib.rglob("*")):
        if path.suffix not in (".hpp", ".cpp", ".h"):
            continue
        rel = path.relative_to(lib)
        if len(rel.parts) < 2:
            errors.append(f"lib/{rel}: every file belongs to a layer folder")
            continue
        folder = rel.parts[0]
        if folder not in FLOOR:
            errors.append(f"lib/{rel}: folder '{folder}' is not a known layer (add it to FLOORS)")
            continue
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        if not lines or not lines[0].startswith("// ") or len(lines[0]) < 12:
            errors.append(f"lib/{rel}:1: must open with a one-line // comment saying its job")
        if len(lines) > MAX_LINES:
            errors.append(f"lib/{rel}: {len(lines)} lines, over the {MAX_LINES}-line ceiling")
        for n, line in enumerate(lines, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            bracket, target = m.groups()
            for pattern, allowed, what in ONLY_IN:
                if pattern.search(target) and folder not in allowed:
                    errors.append(f"lib/{rel}:{n}: includes {what} <{target}>; only "
                                  f"{', '.join(sorted(allowed))}/ may")
            if bracket == "<" or target.startswith("rcache/"):
                continue
            parts = pathlib.PurePosixPath(target).parts
            if len(parts) < 2 or parts[0] not in FLOOR or ".." in parts:
                errors.append(f'lib/{rel}:{n}: include "{target}" must name its layer folder '
                              f'("base/log.hpp"), not a bare or relative path')
                continue
            if not (lib / target).exists():
                errors.append(f'lib/{rel}:{n}: include "{target}" does not exist')
                continue
            other = parts[0]
            uses.setdefault(folder, set()).add(other)
            if other != folder and FLOOR[other] >= FLOOR[folder]:
                errors.append(f'lib/{rel}:{n}: {folder}/ (floor {FLOOR[folder]}) includes '
                              f'"{target}" from {other}/ (floor {FLOOR[other]}); a layer may '
                              f'include only layers below it')
    for path in sorted((root / "include" / "rcache").glob("*.hpp")) if (root / "include").exists() else []:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = INCLUDE.match(line)
            if m and m.group(1) == '"' and not m.group(2).startswith("rcache/"):
                errors.append(f"include/rcache/{path.name}:{n}: a public header includes "
                              f'"{m.group(2)}"; public headers include only rcache/ headers')
    if errors:
        for e in errors:
            print(f"check-layers: {e}")
        print(f"check-layers: {len(errors)} violation(s)")
        return 1
    for i, floor in enumerate(FLOORS):
        for folder in floor:
            below = sorted(uses.get(folder, set()) - {folder}, key=lambda f: FLOOR[f])
            print(f"check-layers: floor {i} {folder + '/':12} includes "
                  f"{', '.join(f + '/' for f in below) or '(nothing below)'}")
    print("check-layers: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
