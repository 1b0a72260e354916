"""Consumer check with the Python cmsis-svd package (PyPI `cmsis-svd`).

For each `SVD DUMP_JSON` pair given on the command line:
1. validate the SVD against the newest CMSIS-SVD 1.3 schema the package
   ships (ARM's CMSIS-SVD.xsd, Apache-2.0), with lxml;
2. load it with cmsis-svd's SVDParser, which expands register arrays and
   clusters itself;
3. compare every register element it yields (absolute address, size,
   reset value, field bit ranges) with the elements of `regmap dump`'s JSON
   for the same map, expanded here from each register's arrays.
Prints one line per map and exits 1 on the first mismatch.
"""

import itertools
import json
import os
import re
import sys

import cmsis_svd
import lxml.etree as etree
from cmsis_svd.parser import SVDParser


def newest_schema():
    d = os.path.join(os.path.dirname(cmsis_svd.__file__), "schemas")
    best = None
    for name in os.listdir(d):
        m = re.fullmatch(r"CMSIS-SVD_1_3_(\d+)\.xsd", name)
        if m and (best is None or int(m.group(1)) > best[0]):
            best = (int(m.group(1)), name)
    if best is None:
        sys.exit(f"no CMSIS-SVD 1.3 schema in {d}")
    return os.path.join(d, best[1]), "1.3.%d" % best[0]


def model_elements(dump):
    out = {}
    for r in dump["registers"]:
        dims = [range(a["count"]) for a in r["arrays"]]
        strides = [a["stride"] for a in r["arrays"]]
        fields = sorted(
            (f["msb"], f["lsb"])
            for f in r["fields"]
            if f["access"] not in ("res0", "raz_wi")
        )
        for idx in itertools.product(*dims):
            addr = r["offset"] + sum(i * s for i, s in zip(idx, strides))
            out[addr] = (r["width"], r["reset"], fields)
    return out


def walk(items, base):
    """Yields (absolute address, register) for a list of the parser's
    registers, register arrays, clusters and cluster arrays, inside a
    container whose element starts at `base`. The parser expands every
    array (dim/dimIncrement) and adds a cluster's offset to the cluster's
    own registers; offsets of clusters nested in it stay relative to it."""
    for it in items or []:
        kind = type(it).__name__
        if kind == "SVDRegister":
            yield base + it.address_offset, it
        elif kind == "SVDRegisterArray":
            for r in it.registers:
                yield base + r.address_offset, r
        elif kind == "SVDRegisterCluster":
            yield from cluster(it, base)
        elif kind == "SVDRegisterClusterArray":
            for c in it.clusters:
                yield from cluster(c, base)
        else:
            sys.exit(f"unexpected element {kind} in the parsed SVD")


def cluster(c, base):
    yield from walk(c.registers, base)
    yield from walk(c.clusters, base + c.address_offset)


def svd_elements(path):
    dev = SVDParser.for_xml_file(path).get_device()
    out = {}
    for p in dev.peripherals:
        for addr, reg in walk(p.registers, p.base_address):
            fields = sorted((f.bit_offset + f.bit_width - 1, f.bit_offset) for f in (reg.fields or []))
            if addr in out:
                sys.exit(f"{path}: two registers at {addr:#x}")
            out[addr] = (reg.size, reg.reset_value, fields)
    return dev, out


def main(args):
    schema_path, schema_version = newest_schema()
    schema = etree.XMLSchema(etree.parse(schema_path))
    for svd, dump_path in zip(args[0::2], args[1::2]):
        if not schema.validate(etree.parse(svd)):
            print(f"{svd}: NOT valid against CMSIS-SVD {schema_version}:")
            for e in list(schema.error_log)[:20]:
                print(f"  line {e.line}: {e.message}")
            sys.exit(1)
        with open(dump_path) as f:
            want = model_elements(json.load(f))
        dev, got = svd_elements(svd)
        # A register that declares no fields has none in the SVD; the dump
        # shows the loader's whole-register VALUE field for it.
        for addr, (w, reset, fields) in want.items():
            g = got.get(addr)
            if g is None:
                sys.exit(f"{svd}: no register at {addr:#x}")
            if fields == [(w - 1, 0)] and g[2] == []:
                fields = []
            if g != (w, reset, fields):
                sys.exit(f"{svd} at {addr:#x}: SVD says {g}, the map says {(w, reset, fields)}")
        if len(got) != len(want):
            sys.exit(f"{svd}: {len(got)} registers in the SVD, {len(want)} in the map")
        print(
            f"{svd}: valid CMSIS-SVD {schema_version}; cmsis-svd loaded {len(dev.peripherals)} "
            f"peripherals, {len(got)} register elements, all at the map's addresses with its sizes, resets and fields"
        )


if __name__ == "__main__":
    if len(sys.argv) < 3 or len(sys.argv) % 2 == 0:
        sys.exit("usage: cmsis_svd_check.py SVD DUMP_JSON [SVD DUMP_JSON ...]")
    main(sys.argv[1:])
