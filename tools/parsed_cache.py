"""Write signatures/parsed-cache.json (detector/parsedcache.py): ``make parsed-cache``,
after editing a rule file, coins.yaml or a pool list. Each entry is checked to load back
exactly as its file parses; a YAML file JSON cannot carry exactly is left out (and
named)."""

from __future__ import annotations

import sys

from detector import parsedcache, pools, yamlsrc


def main() -> int:
    yaml_entries, left_out = yamlsrc.cache_entries(parsedcache.shipped_yaml())
    pool_files = parsedcache.shipped_pools()
    pool_entries = pools.cache_entries(pool_files)
    parsedcache.write({"yaml": yaml_entries, "pools": pool_entries})
    for path in pool_files:  # read back through the cache: the same entries
        parsed = pools._parse(path, path.read_text(encoding="utf-8"))
        if pools.parse_pool_file(path) != parsed:
            sys.stderr.write(f"parsed-cache: {path}: does not load back the same\n")
            return 1
    for path in left_out:
        sys.stderr.write(f"parsed-cache: {path}: not cached (JSON cannot carry its data)\n")
    sys.stdout.write(
        f"{parsedcache.CACHE}: {len(yaml_entries)} YAML files, {len(pool_entries)} pool lists\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
