"""The allocation ledgers: high-water marks that git's history cannot rewind."""
