"""L3: typed, frozen configuration models (pydantic), validated once at the edges."""
