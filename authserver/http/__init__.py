"""HTTP routes: one module per endpoint group; none of them writes SQL."""
