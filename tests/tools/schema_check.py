#!/usr/bin/env python3
"""Validates runbooks (and the schema's own snippets) against schemas/runbook.schema.json
with an independent JSON Schema implementation (python3-jsonschema, draft 2020-12), for
tests/integration/schema.rs.

    schema_check.py SCHEMA files FILE...   one line per file: "ok FILE" or "invalid FILE: why"
    schema_check.py SCHEMA snippets        one line per snippet, the same way

YAML is read as YAML 1.2 reads it (as yaml-language-server does): only true/false are
booleans, so `on:` is a key and `yes` a string.
"""
import json
import re
import sys

import jsonschema
import yaml


class Yaml12Loader(yaml.SafeLoader):
    pass


Yaml12Loader.yaml_implicit_resolvers = {
    key: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def errors(schema, instance):
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    return sorted(validator.iter_errors(instance), key=lambda error: list(error.absolute_path))


def describe(error):
    path = "/".join(str(part) for part in error.absolute_path)
    return f"{path or '(root)'}: {error.message}"


def tab_stops(value):
    """A snippet body with its tab stops (`${1:text}`, `$1`) replaced by their text."""
    if isinstance(value, str):
        return re.sub(r"\$\{\d+:([^}]*)\}|\$\d+", lambda match: match.group(1) or "", value)
    if isinstance(value, list):
        return [tab_stops(item) for item in value]
    if isinstance(value, dict):
        return {tab_stops(key): tab_stops(item) for key, item in value.items()}
    return value


def main():
    schema = json.load(open(sys.argv[1]))
    mode = sys.argv[2]
    if mode == "files":
        for path in sys.argv[3:]:
            document = yaml.load(open(path), Loader=Yaml12Loader)
            found = errors(schema, document)
            print(f"ok {path}" if not found else f"invalid {path}: {describe(found[0])}")
    elif mode == "snippets":
        for name, definition in schema["$defs"].items():
            for snippet in definition.get("defaultSnippets", []):
                body = tab_stops(snippet["body"])
                wrapped = {"$defs": schema["$defs"], "$ref": f"#/$defs/{name}"}
                found = errors(wrapped, body)
                label = f"{name}: {snippet['label']}"
                print(f"ok {label}" if not found else f"invalid {label}: {describe(found[0])}")
    else:
        sys.exit(f"unknown mode {mode}")


main()
