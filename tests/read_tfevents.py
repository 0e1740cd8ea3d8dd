#!/usr/bin/env python3
"""Reads a TensorBoard event file independently of recur, for tests/test_tensorboard.cpp.

Checks the TFRecord framing of every record and both of its masked CRC-32Cs (computed with
python3-crc32c, not recur's code), decodes each Event by hand from the protocol-buffer wire
format using TensorBoard's field numbers (tensorboard/compat/proto: event.proto,
summary.proto, histogram.proto, tensor.proto), and prints one JSON object per event:

    {"step": 0, "wall_time": 1.8e9, "file_version": "brain.Event:2"}
    {"step": 5, "wall_time": ..., "session_log": 1}                      (1: START)
    {"step": 10, "wall_time": ..., "scalar": ["val_loss", 3.99]}
    {"step": 10, "wall_time": ..., "histogram": {"tag": ..., "min": ..., "max": ..., "num": ...,
        "sum": ..., "sum_squares": ..., "bucket_limit": [...], "bucket": [...]}}
    {"step": 10, "wall_time": ..., "text": ["sample", "...", "text"]}  (tag, string, plugin)

Exits 1 naming the record on a bad CRC, a truncated record or a malformed message.

    /usr/bin/python3 tests/read_tfevents.py EVENT_FILE
"""
import json
import struct
import sys

import crc32c


class Malformed(Exception):
    pass


def masked_crc(data):
    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(buf, at):
    value, shift = 0, 0
    while True:
        if at >= len(buf):
            raise Malformed("varint runs past the end")
        byte = buf[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def fields(buf):
    """(field number, wire type, value) of each field of a message: an int for varints,
    bytes for the rest."""
    at = 0
    while at < len(buf):
        key, at = varint(buf, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = varint(buf, at)
        elif wire == 1:
            value, at = buf[at:at + 8], at + 8
        elif wire == 5:
            value, at = buf[at:at + 4], at + 4
        elif wire == 2:
            length, at = varint(buf, at)
            value, at = buf[at:at + length], at + length
        else:
            raise Malformed(f"wire type {wire} of field {number}")
        if at > len(buf):
            raise Malformed(f"field {number} runs past the end")
        yield number, wire, value


def doubles(wire, value):
    if wire == 1:  # one unpacked element
        return [struct.unpack("<d", value)[0]]
    return list(struct.unpack(f"<{len(value) // 8}d", value))


def histogram(buf):
    names = {1: "min", 2: "max", 3: "num", 4: "sum", 5: "sum_squares"}
    h = {"bucket_limit": [], "bucket": []}
    for number, wire, value in fields(buf):
        if number in names:
            h[names[number]] = struct.unpack("<d", value)[0]
        elif number == 6:
            h["bucket_limit"] += doubles(wire, value)
        elif number == 7:
            h["bucket"] += doubles(wire, value)
    return h


def summary_value(buf):
    tag, plugin, out = "", "", None
    for number, wire, value in fields(buf):
        if number == 1:
            tag = value.decode()
        elif number == 2:
            out = ("scalar", struct.unpack("<f", value)[0])
        elif number == 5:
            out = ("histogram", histogram(value))
        elif number == 8:  # TensorProto: dtype 1 (DT_STRING = 7), string_val 8
            dtype, strings = 0, []
            for n, _, v in fields(value):
                if n == 1:
                    dtype = v
                elif n == 8:
                    strings.append(v.decode())
            if dtype != 7 or len(strings) != 1:
                raise Malformed(f"tensor of {tag}: dtype {dtype}, {len(strings)} strings")
            out = ("text", strings[0])
        elif number == 9:  # SummaryMetadata: plugin_data 1 { plugin_name 1 }
            for n, _, v in fields(value):
                if n == 1:
                    plugin = dict((m, w) for m, _, w in fields(v)).get(1, b"").decode()
    if out is None:
        raise Malformed(f"value {tag} holds nothing")
    kind, data = out
    if kind == "histogram":
        data["tag"] = tag
        return {kind: data}
    return {kind: [tag, data, plugin] if kind == "text" else [tag, data]}


def event(buf):
    e = {}
    for number, wire, value in fields(buf):
        if number == 1:
            e["wall_time"] = struct.unpack("<d", value)[0]
        elif number == 2:
            e["step"] = value
        elif number == 3:
            e["file_version"] = value.decode()
        elif number == 5:
            values = [summary_value(v) for n, _, v in fields(value) if n == 1]
            if len(values) != 1:
                raise Malformed(f"a summary of {len(values)} values")
            e.update(values[0])
        elif number == 7:
            e["session_log"] = dict((n, v) for n, _, v in fields(value)).get(1, 0)
    e.setdefault("step", 0)
    return e


def main():
    data = open(sys.argv[1], "rb").read()
    at, record = 0, 0
    try:
        while at < len(data):
            record += 1
            if at + 12 > len(data):
                raise Malformed("truncated header")
            header = data[at:at + 8]
            (length,) = struct.unpack("<Q", header)
            (length_crc,) = struct.unpack("<I", data[at + 8:at + 12])
            if length_crc != masked_crc(header):
                raise Malformed("the length's CRC does not match")
            if at + 16 + length > len(data):
                raise Malformed("truncated data")
            body = data[at + 12:at + 12 + length]
            (body_crc,) = struct.unpack("<I", data[at + 12 + length:at + 16 + length])
            if body_crc != masked_crc(body):
                raise Malformed("the data's CRC does not match")
            print(json.dumps(event(body)))
            at += 16 + length
    except Malformed as e:
        sys.exit(f"read_tfevents.py: {sys.argv[1]}: record {record}: {e}")


if __name__ == "__main__":
    main()
