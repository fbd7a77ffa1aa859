"""Analytics models: record-linkage runs and the caseworkers' decisions on uncertain pairs."""
