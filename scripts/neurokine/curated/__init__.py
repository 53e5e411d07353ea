"""The curated resources: cytokine axes, the cell-type vocabulary, published references."""
