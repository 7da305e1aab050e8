"""The challenge data: fetching, validating, simulating and preparing it for LUMIN."""
