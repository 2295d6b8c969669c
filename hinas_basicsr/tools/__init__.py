"""The user's tools: compare, infer, export (deploy), the demo, the runners, the options check, the sample data."""
