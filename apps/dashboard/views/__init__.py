"""The dashboard's pages, one module per area; each view reads through the owning app's selectors."""
