"""Provider facts that are data: one YAML file per provider, checked by ``schema.json``."""
