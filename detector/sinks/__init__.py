"""Output stage: suspects as a terminal table, Suricata-EVE JSON lines, or CSV."""
