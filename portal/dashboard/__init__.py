"""The command centre's dashboard (zones ranked, units, programmes, trend) and leader visits."""
