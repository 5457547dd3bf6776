#!/usr/bin/env python3
"""Lists the GPU code a shared object carries, read from its .nv_fatbin
section (no CUDA tool needed): "sm_80 sm_90 ptx:80 ptx:90". scripts/gpu-kit
uses it to refuse a use_lite_cuda.so without Hopper (sm_90) machine code.

Layout (as nvcc's fatbinary writes it; cuobjdump --list-elf/--list-ptx
agree): a 16-byte header (magic 0xBA55ED50, u16 version, u16 header size,
u64 payload size), then entries of (u16 kind: 1 PTX, 2 ELF; u16 version;
u32 header size; u32 padded payload size; ...; u32 sm version at 28).

  fatbin_archs.py FILE.so
"""
import struct
import subprocess
import sys

MAGIC = 0xBA55ED50


def fatbin_section(path):
    out = subprocess.run(["readelf", "-SW", path], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        fields = line.split("]", 1)[-1].split()
        if fields and fields[0] == ".nv_fatbin":
            offset, size = int(fields[3], 16), int(fields[4], 16)
            with open(path, "rb") as f:
                f.seek(offset)
                return f.read(size)
    return b""


def archs(data):
    found, pos = set(), 0
    while pos + 16 <= len(data):
        magic, _, header, size = struct.unpack_from("<IHHQ", data, pos)
        if magic != MAGIC:
            pos += 8  # containers are 8-byte aligned
            continue
        entry, end = pos + header, pos + header + size
        while entry + 32 <= end:
            kind, _, entry_header, padded = struct.unpack_from("<HHII", data, entry)
            sm = struct.unpack_from("<I", data, entry + 28)[0]
            found.add(f"sm_{sm}" if kind == 2 else f"ptx:{sm}")
            entry += entry_header + padded
        pos = end
    return sorted(found)


if __name__ == "__main__":
    print(" ".join(archs(fatbin_section(sys.argv[1]))))
