"""Configuration: one YAML file, validated once at start into a frozen object."""
