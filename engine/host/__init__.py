"""Host front end: the node's Python half and the parameter table."""
