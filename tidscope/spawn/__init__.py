"""spawn"""
