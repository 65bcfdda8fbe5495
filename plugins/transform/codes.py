"""Domain codes of the transform family (contract §7.5)."""

DOMAIN = "transform"
INVALID_INPUT = "transform.invalid_input"
PARSE_FAILED = "transform.parse_failed"
EXECUTION_FAILED = "transform.execution_failed"
CODES = (INVALID_INPUT, PARSE_FAILED, EXECUTION_FAILED)
