"""YAML loading behind raysim.config.load_config: private, so its shape may change.

- checker: the problem collector and typed reads (numbers, strings, ranges ...)
- yamlread: YAML with the file and line of every value
- overrides: `--set KEY=VALUE` and `${VAR}` interpolation
- builder: the checked tree to the frozen Config dataclasses
"""
