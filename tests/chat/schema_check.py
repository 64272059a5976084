#!/usr/bin/python3
"""Checks chat protocol fixtures with an independent JSON Schema validator
(Debian's python3-fastjsonschema) and prints one verdict per file:
"NAME valid" or "NAME invalid". The chat test compares these verdicts with
the daemon's own validator (daemon/jsonschema.h) on the same files.

usage: schema_check.py SCHEMA DEFINITION FIXTURE..."""
import json
import os
import sys

import fastjsonschema


def main():
    schema_path, definition, *fixtures = sys.argv[1:]
    with open(schema_path, encoding="utf-8") as f:
        document = json.load(f)
    rooted = {"definitions": document["definitions"], "$ref": "#/definitions/" + definition}
    validate = fastjsonschema.compile(rooted)
    for path in fixtures:
        with open(path, encoding="utf-8") as f:
            instance = json.load(f)
        try:
            validate(instance)
            verdict = "valid"
        except fastjsonschema.JsonSchemaException:
            verdict = "invalid"
        print(os.path.basename(path), verdict)


if __name__ == "__main__":
    main()
