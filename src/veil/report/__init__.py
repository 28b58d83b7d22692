"""HTML reports people look at: self-contained pages (inline CSS and SVG charts), viewable offline."""
