"""One fake upstream for every API family, for the shared contract suite (see ``server``)."""
