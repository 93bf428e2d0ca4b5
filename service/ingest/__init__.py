"""How a found image arrives: checked, fingerprinted, stored with its receipt, then matched."""
