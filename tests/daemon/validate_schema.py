#!/usr/bin/python3
"""Checks JSON files against a JSON Schema with fastjsonschema, an
independent validator, so tests can compare the daemon's verdicts with it.

usage: validate_schema.py SCHEMA FILE...   prints "valid FILE" or "invalid FILE: why"
"""
import json
import sys

import fastjsonschema

schema = json.load(open(sys.argv[1]))
validate = fastjsonschema.compile(schema)
for path in sys.argv[2:]:
    try:
        validate(json.load(open(path)))
        print(f"valid {path}")
    except (fastjsonschema.JsonSchemaException, ValueError) as e:
        print(f"invalid {path}: {e}")
