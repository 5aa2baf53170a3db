"""The scoring pipeline: catalog, action tokens, submit, ranking. No Flask request here."""
