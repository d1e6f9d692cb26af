"""All of the service's SQL, one module per kind of thing stored."""
