"""The plugin's fixtures are tested as a user would use them: in test files run by pytester."""

pytest_plugins = ["pytester"]
